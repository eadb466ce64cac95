"""The plan: the stack and the checkout together. Which stages a change rebuilds and which
the registry can give (plan), the tags each image gets (tags), and the inputs a build takes
that the commit does not pin (unpinned).

May import: tasks.console, tasks.shared, tasks.stack, tasks.settings, tasks.checkout.
"""
