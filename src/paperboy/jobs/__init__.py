"""Background work: scheduled jobs (:mod:`.scheduler`) that run once across all workers (:mod:`.leases`)."""
