"""The review pages: server-rendered shells (Django templates) whose ES modules talk to the REST API."""
