"""Task ``echo``: a throwaway task outside markit, registered by an entry point (tests/unit/test_tasks.py,
tests/integration/test_new_task.py): a JSON list of 4 numbers in, the model's score and the spec's reply out."""
