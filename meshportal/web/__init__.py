"""What visitors see: lessons, the wiki, search and moderation, as light HTML pages."""
