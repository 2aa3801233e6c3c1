"""``{% plotly_assets %}``: plotly.js and its style rules, for a page that draws a chart (a
template builtin, no ``load``).

Put it next to each chart container (inside the same ``{% if figure %}``): a page without a
chart then never fetches plotly.js, and a page with several charts gets the tags once. The script
is the vendored basic bundle (``static/plotly/README.md``), served from our own origin and
deferred, so ``static/kapstone/app.js`` (deferred, in the head) draws every ``[data-figure]`` on
``DOMContentLoaded``, after it has run. Nothing inline: the Content-Security-Policy stays
``script-src 'self'`` and ``style-src 'self'``. plotly.js would add its own style rules in a
``<style>`` element it creates (refused by that policy, and reported as a violation); it skips
that when an element with the id ``plotly.js-style-global`` and the class ``no-inline-styles``
exists, which is our ``plotly.css`` link, holding the same rules.
"""

from __future__ import annotations

from django import template
from django.templatetags.static import static
from django.utils.html import format_html

register = template.Library()

PLOTLY_JS = "plotly/plotly-basic.min.js"
PLOTLY_CSS = "kapstone/plotly.css"
#: Set in the outermost context of one rendering once the tags are out.
_DONE = "_kapstone_plotly_assets_done"


@register.simple_tag(takes_context=True)
def plotly_assets(context) -> str:
    # ``context.dicts[0]`` is shared by the page and every template it includes (an
    # ``{% include ... with %}`` only pushes dicts above it), and belongs to this rendering alone.
    root = context.dicts[0]
    if root.get(_DONE):
        return ""
    root[_DONE] = True
    return format_html(
        '<link rel="stylesheet" href="{}" id="plotly.js-style-global" class="no-inline-styles">'
        '<script src="{}" defer></script>',
        static(PLOTLY_CSS),
        static(PLOTLY_JS),
    )
