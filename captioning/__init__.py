"""Caption drafting: an offline template captioner and an LLM captioner behind one interface.

The captioners are plain Python (no ORM): they take CaptionInputs and return a CaptionResult.
The Django side (services, tasks) gathers the inputs, stores drafts and runs the validator.
"""
