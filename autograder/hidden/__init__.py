"""The hidden checks: their registry entries here, their judges and thresholds in hidden/judges.py, the probes only
they read in hidden/probes.py (which the grading worker runs). Only the grader package holds this folder: the
student package, what students install to run `autograder check`, ships without it (autograder/build.py)."""

from autograder.check_types import CONFIRMED_BY, HIDDEN, Check

HIDDEN_CHECKS: tuple[Check, ...] = (
    Check("summarize_is_last_state", 2, HIDDEN, ("ClassifierWithRNN",), "rnn_model", "summarize_is_last_state",
          "the summary is the RNN's hidden state after the last step",
          "ClassifierWithRNN.summarize is the RNN's last hidden state"),
    Check("mean_summary", 1, HIDDEN, ("ClassifierWithMean",), "mean_model", "mean_summary",
          "the summary is the RNN's states averaged over time",
          "ClassifierWithMean.summarize is the mean over time"),
    Check("optimizer_protocol", 1, HIDDEN, ("train",), "loop", "optimizer_protocol",
          "each step: zero_grad(), backward(), step()",
          "train steps the optimizer and clears gradients every step", after=CONFIRMED_BY),
    Check("loss_decreases", 2, HIDDEN, ("train",), "training", "loss_decreases",
          "training lowers the loss, recomputed by the grader from your weights",
          "train really lowers the loss"),
    Check("separability", 2, HIDDEN, ("train",), "training", "separability",
          "after training, the 2-D document embeddings separate real from fake",
          "after train, the embeddings are linearly separable"),
    Check("end_to_end", 1, HIDDEN, ("ClassifierWithRNN", "train"), "end_to_end", "end_to_end",
          "your model, trained by your loop, separates the classes",
          "your ClassifierWithRNN trained by your train separates the classes", after=("summarize_is_last_state",)),
)
