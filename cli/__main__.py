"""`python -m memdistill.cli`."""

from memdistill.cli import main

main()
