"""Course discussion: threads, replies, votes, moderation, announcements (docs/modules/discussion.md)."""
