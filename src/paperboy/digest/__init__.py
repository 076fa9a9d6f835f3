"""E-mail digests: a daily or weekly mail of the trending papers plus each reader's own picks.

* :mod:`~paperboy.digest.subscriptions` — subscribe (double opt-in), confirm, preferences,
  unsubscribe, bounces; import, export and statistics for admins.
* :mod:`~paperboy.digest.tokens` — the signed links in the mails (confirm, manage/unsubscribe).
* :mod:`~paperboy.digest.editions` — what an edition is (a feed day, or an ISO week) and what it
  holds for one reader: trending papers, then personal picks, never a paper sent before.
* :mod:`~paperboy.digest.compose` — the mail: HTML with inlined CSS, a text part, the headers.
* :mod:`~paperboy.digest.send` — an edition run: one outbox row per (subscriber, edition), then
  delivery over parallel, reused SMTP sessions; :mod:`~paperboy.digest.delivery` tells the outbox
  who still wants their mail and records bounces.
"""
