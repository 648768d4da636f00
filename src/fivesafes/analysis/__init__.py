"""Analysis methods over a project workspace; each returns a result the disclosure engine checks."""
