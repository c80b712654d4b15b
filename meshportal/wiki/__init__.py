"""The wiki: pages kept in the sync replica, an SQLite index beside it, and three-way merges."""
