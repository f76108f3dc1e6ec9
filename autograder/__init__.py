"""The grading engine for the RNN embeddings lesson."""
