"""The hidden checks and the probes only they read, declared here (autograder/checks.py derives every table from
these); their judges and thresholds are in hidden/judges.py, their probes in hidden/probes.py (which the grading
worker runs), the thresholds per dataset in hidden/calibrations.py. Only the grader package holds this folder: the
student package, what students install to run `autograder check`, ships without it (autograder/build.py)."""

from autograder.spec import CONFIRMED_BY, HIDDEN, Check, Figure, ProbeSpec

HIDDEN_PROBES: tuple[ProbeSpec, ...] = (
    ProbeSpec("mean_model", "autograder.hidden.probes:probe_mean_model", "model_probe", worker=0, order=1,
              floor=60.0),
    # The training runs are always on the CPU: seeded CPU runs are bit-identical, so a submission gets the same score
    # on a grader with a GPU as on one without (on a GPU, a loop that moves only the model would crash and lose every
    # training check, on the CPU only device_placement). Device placement is checked on the GPU when there is one.
    ProbeSpec("training", "autograder.hidden.probes:probe_training", "training_probe", worker=0, order=3,
              floor=180.0, trains="epochs", cpu_only=True),
    ProbeSpec("end_to_end", "autograder.hidden.probes:probe_end_to_end", "end_to_end_probe", worker=1, order=4,
              floor=300.0, trains="restarts", cpu_only=True),
)

HIDDEN_CHECKS: tuple[Check, ...] = (
    Check("summarize_is_last_state", 2, HIDDEN, ("ClassifierWithRNN",), "rnn_model",
          "autograder.hidden.judges:summarize_is_last_state",
          "the summary is the RNN's hidden state after the last step",
          "ClassifierWithRNN.summarize is the RNN's last hidden state", position=1, statistic="deviation"),
    Check("mean_summary", 1, HIDDEN, ("ClassifierWithMean",), "mean_model", "autograder.hidden.judges:mean_summary",
          "the summary is the RNN's states averaged over time",
          "ClassifierWithMean.summarize is the mean over time", position=2, statistic="deviation"),
    Check("optimizer_protocol", 1, HIDDEN, ("train",), "loop", "autograder.hidden.judges:optimizer_protocol",
          "each step: zero_grad(), backward(), step()",
          "train steps the optimizer and clears gradients every step", position=5, after=CONFIRMED_BY),
    Check("loss_decreases", 2, HIDDEN, ("train",), "training", "autograder.hidden.judges:loss_decreases",
          "training lowers the loss, recomputed by the grader from your weights",
          "train really lowers the loss", position=6,
          thresholds=("loss_drop", "below_prior", "reported_first", "reported_last"),
          figures=(Figure("reported", "The grader's model trained by your train(): the losses your train() returned",
                          order=2),)),
    Check("separability", 2, HIDDEN, ("train",), "training", "autograder.hidden.judges:separability",
          "after training, the 2-D document embeddings separate real from fake",
          "after train, the embeddings are linearly separable", position=7,
          thresholds=("separable", "separable_gain"),
          figures=(Figure("after", "The grader's model trained by your train(): its 2-D summaries before and after "
                                   "training (recomputed from the trained weights)", order=3),)),
    Check("end_to_end", 1, HIDDEN, ("ClassifierWithRNN", "train"), "end_to_end", "autograder.hidden.judges:end_to_end",
          "your model, trained by your loop, separates the classes",
          "your ClassifierWithRNN trained by your train separates the classes", position=8,
          after=("summarize_is_last_state",), thresholds=("end_to_end",),
          figures=(Figure("losses", "Your model: your ClassifierWithRNN trained by your train(), the losses it "
                                    "returned", order=0),
                   Figure("after", "Your model: your ClassifierWithRNN trained by your train(), its 2-D summaries "
                                   "before and after training (recomputed by the grader from the trained weights)",
                          order=1))),
)

# Chooses the thresholds for a grading's data: (data, plan, recipe, judged names) -> hidden.calibrations.Choice
THRESHOLDS = "autograder.hidden.calibrations:choose"
