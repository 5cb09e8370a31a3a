"""Services: what each command does, as plain functions over typed values. They print
nothing and raise typed errors; progress goes through callbacks."""
