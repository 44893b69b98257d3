"""Feedback rounds in the spirit of Pol.is: statements, votes on them, and the opinion groups they show."""
