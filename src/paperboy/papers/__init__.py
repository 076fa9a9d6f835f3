"""Papers as plain data: arXiv ids, the PaperRecord every source produces, and normalisation."""
