"""Each person reads the review pages in their own language (User.preferred_language), whatever
their browser asks for; visitors who are not signed in get what LocaleMiddleware chose."""

import functools

from django.conf import settings
from django.utils import translation

LANGUAGE_CODES = [code for code, _name in settings.LANGUAGES]


def in_user_language(view):
    """Render the view in the signed-in user's language. The language cookie is set to match, so
    that the JavaScript catalog (/jsi18n/, read through LocaleMiddleware) speaks it too."""

    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        language = getattr(request.user, "preferred_language", None)
        if language not in LANGUAGE_CODES:
            return view(request, *args, **kwargs)
        with translation.override(language):
            request.LANGUAGE_CODE = language
            response = view(request, *args, **kwargs)
            if hasattr(response, "render") and not response.is_rendered:
                response.render()
        if request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME) != language:
            response.set_cookie(
                settings.LANGUAGE_COOKIE_NAME,
                language,
                max_age=settings.LANGUAGE_COOKIE_AGE,
                samesite=settings.LANGUAGE_COOKIE_SAMESITE,
            )
        response.headers["Content-Language"] = language
        return response

    return wrapper
