"""Writes the review pages make besides the workflow's own (those go through annotation.services)."""

from accounts.models import User

from .language import LANGUAGE_CODES


class LanguageError(ValueError):
    pass


def user_set_language(*, user: User, language: str) -> None:
    if language not in LANGUAGE_CODES:
        raise LanguageError(f"unknown language {language!r}; one of {', '.join(LANGUAGE_CODES)}")
    if user.preferred_language != language:
        user.preferred_language = language
        user.save(update_fields=["preferred_language"])
