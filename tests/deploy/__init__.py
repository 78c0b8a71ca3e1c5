"""The shipped deploy/ files, exercised with the real programs they configure."""
