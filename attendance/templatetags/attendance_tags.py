from html import escape

from django import template
from django.utils.safestring import SafeString, mark_safe

register = template.Library()


@register.simple_tag
def group_options(groups: list[tuple[int, str]], selected: str) -> SafeString:
    """The <option>s of the start form's group select, the service first.

    Built with the standard library's escape: a big church has thousands of groups, and a
    template loop (or `format_html` per option) over them took half a second or more a page.
    """
    mark = ' selected="selected"'
    options = [f'<option value=""{"" if selected else mark}>Service</option>']
    options += [
        f'<option value="{int(gid)}"{mark if str(gid) == selected else ""}>{escape(name, quote=True)}</option>'
        for gid, name in groups
    ]
    return mark_safe("".join(options))  # noqa: S308 - ids are ints, names escaped above
