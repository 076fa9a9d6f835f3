"""Sources of papers: each turns its input into PaperRecords; store.repo.upsert_papers writes them."""
