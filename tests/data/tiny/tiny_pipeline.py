"""The tiny test pipelines' own functions (their ``source``)."""


def words(text):
    """A text's words, lowercased; a text that is not one is refused (a ValueError: the caller's 422)."""
    if not isinstance(text, str):
        raise ValueError(f"expected text, got {type(text).__name__}")
    found = text.lower().split()
    if not found:
        raise ValueError("no words in the text")
    return found


def spoken(words, said):
    """Each word with how it is said and where that came from."""
    return [{"word": word, "said": item["value"] if item["case"] == "known" else item["value"]["candidates"][0]["output"],
             "from": item["case"]} for word, item in zip(words, said, strict=True)]


def features(predictions):
    """The classifier's four best probabilities (padded with 0), as the scorer's input."""
    values = [p["probability"] for p in predictions][:4]
    return values + [0.0] * (4 - len(values))


def broken(predictions):
    raise KeyError("a bug in the pipeline's own function")
