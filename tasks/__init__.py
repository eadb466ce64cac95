"""The task runner behind the noxfile: plan, bake and the pieces they share."""
