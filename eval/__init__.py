"""The evaluation harness (installed as `memdistill.eval`): datasets, runs, graders, report."""
