"""JSON: one serializer per thing (papers first), shared by the HTTP API and the CLI's --json."""
