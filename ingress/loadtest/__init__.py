"""`portico loadtest`: an open-loop HTTP load tester that knows about ingress reloads."""
