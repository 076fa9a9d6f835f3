"""Community: votes, submissions, comments, moderation, authorship claims."""
