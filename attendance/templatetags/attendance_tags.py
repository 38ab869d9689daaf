from html import escape

from django import template
from django.utils.safestring import SafeString, mark_safe

from members.timezones import most_recent_weekday

register = template.Library()


@register.simple_tag
def group_options(groups: list[tuple[int, str, int | None]], selected: str, today, service_date) -> SafeString:
    """The <option>s of the start form's group select, the service first, each with the date it
    opens on (`data-date`: the most recent service or meeting day; static/js/attendance.js puts it
    in the date field when the choice changes).

    Built with the standard library's escape: a big church has thousands of groups, and a
    template loop (or `format_html` per option) over them took half a second or more a page.
    """
    mark = ' selected="selected"'
    options = [f'<option value="" data-date="{service_date.isoformat()}"{"" if selected else mark}>Service</option>']
    days = {day: most_recent_weekday(today, day).isoformat() for day in range(7)}
    options += [
        f'<option value="{int(gid)}" data-date="{days.get(day, today.isoformat())}"'
        f'{mark if str(gid) == selected else ""}>{escape(name, quote=True)}</option>'
        for gid, name, day in groups
    ]
    return mark_safe("".join(options))  # noqa: S308 - ids are ints, dates ISO, names escaped above
