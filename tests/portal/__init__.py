"""Portal tests: the api.php wire against a running server, on SQLite and PostgreSQL."""
