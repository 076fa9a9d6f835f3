"""Papers as plain data: arXiv ids, the PaperRecord every source produces, normalisation, and arXiv's
announcement calendar."""
