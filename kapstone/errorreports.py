"""Error reports without PHI.

Django's default exception reporter includes POST data and request details; in a clinical app
those are patient data. This filter hides every POST value and every setting it would show.
"""

from __future__ import annotations

from django.views.debug import SafeExceptionReporterFilter


class ScrubbingExceptionReporterFilter(SafeExceptionReporterFilter):
    def get_post_parameters(self, request):  # type: ignore[override]
        if request is None:
            return {}
        return {key: self.cleansed_substitute for key in request.POST}

    def get_traceback_frame_variables(self, request, tb_frame):  # type: ignore[override]
        return [(name, self.cleansed_substitute) for name, _ in tb_frame.f_locals.items()]
