"""Personal names: teach the text side a name ("Rex") from a few labelled boxes, and measure it.

Only text-side parameters are learned (a token embedding, a rank-1 update of the last text layer's value
projection, or both), so every photo vector already in an index stays valid: teaching runs no photo
through the vision trunk.
"""
