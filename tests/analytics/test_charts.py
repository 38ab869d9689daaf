"""The SVG chart functions: valid, accessible markup for normal, single-point and empty series."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from django.conf import settings

from analytics import charts
from tests.base import FlockTestCase

SVG = "{http://www.w3.org/2000/svg}"


def parse(markup: str) -> ET.Element:
    root = ET.fromstring(markup)
    assert root.tag == f"{SVG}svg", root.tag
    return root


class ChartsTestCase(FlockTestCase):
    months = ["Dec \u201925", "Jan \u201926", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov"]

    def assert_accessible(self, root: ET.Element) -> None:
        self.assertEqual(root.get("role"), "img")
        self.assertTrue(root.get("aria-label"))
        self.assertIsNotNone(root.find(f"{SVG}title"))

    def texts(self, root: ET.Element) -> list[str]:
        return ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]

    def test_it_picks_round_ticks(self):
        self.assertEqual(charts.nice_ticks(0), [0, 1])
        self.assertEqual(charts.nice_ticks(1), [0, 1])
        self.assertEqual(charts.nice_ticks(3), [0, 1, 2, 3])
        self.assertEqual(charts.nice_ticks(37), [0, 10, 20, 30, 40])
        self.assertEqual(charts.nice_ticks(100), [0, 25, 50, 75, 100])
        self.assertEqual(charts.nice_ticks(1234), [0, 500, 1000, 1500])
        for top in (1, 7, 19, 99, 101, 555, 98765):
            ticks = charts.nice_ticks(top)
            self.assertGreaterEqual(ticks[-1], top)
            self.assertLessEqual(len(ticks), 7)
            self.assertEqual(len({b - a for a, b in zip(ticks, ticks[1:])}), 1)

    def test_it_draws_a_line_chart(self):
        values = [100, 104, 110, 111, 115, 130, 131, 133, 140, 152, 160, 171]
        bars = [3, 4, 6, 1, 4, 15, 1, 2, 7, 12, 8, 11]
        root = parse(charts.line_chart(labels=self.months, values=values, bars=bars,
                                       details=[f"d{i}" for i in range(12)], title="Growth"))
        self.assert_accessible(root)
        self.assertIn("171", root.get("aria-label"))
        self.assertEqual(len(list(root.iter(f"{SVG}circle"))), 12)
        self.assertEqual(len(list(root.iter(f"{SVG}path"))), 2)  # area and line
        texts = self.texts(root)
        self.assertIn("Nov", texts)
        self.assertIn("200", texts)  # round top tick above 171
        self.assertIn("+15", texts)
        self.assertIn('class="f2"', charts.line_chart(labels=self.months, values=values, bars=bars))
        css = (settings.BASE_DIR / "static/css/flock.css").read_text()
        self.assertIn(".chart-svg .f2 { fill: var(--c2); }", css)

    def test_it_draws_a_single_point_line_chart(self):
        root = parse(charts.line_chart(labels=["Nov"], values=[5], bars=[5]))
        self.assert_accessible(root)
        self.assertEqual(len(list(root.iter(f"{SVG}circle"))), 1)
        self.assertIn("Nov", self.texts(root))

    def test_it_shows_an_empty_line_chart(self):
        for values in ([], [0, 0, 0]):
            markup = charts.line_chart(labels=["a", "b", "c"][: len(values)], values=values,
                                       empty_message="No people yet.")
            root = parse(markup)
            self.assert_accessible(root)
            self.assertIn("No people yet.", self.texts(root))
            self.assertIn("chart-empty", root.get("class"))

    def test_it_draws_a_stacked_bar_chart(self):
        labels = [f"{d} Sep" for d in range(1, 13)]
        services = [40, 42, 0, 38, 41, 45, 39, 50, 47, 44, 43, 46]
        groups = [10, 12, 0, 9, 14, 11, 8, 15, 13, 12, 10, 16]
        root = parse(charts.bar_chart(labels=labels, stacks=[("Services", services), ("Groups", groups)],
                                      title="Attendance"))
        self.assert_accessible(root)
        rects = [r for r in root.iter(f"{SVG}rect") if r.get("width") not in ("10",)]
        self.assertEqual(len(rects), 22)  # 11 weeks x 2 stacks; the empty week draws nothing
        self.assertIn("65", self.texts(root))  # 50 + 15 on top of the tallest bar
        self.assertIn("highest 65", root.get("aria-label"))
        titles = ["".join(t.itertext()) for g in root.iter(f"{SVG}g") for t in g.findall(f"{SVG}title")]
        self.assertEqual(len(titles), 12)

    def test_it_draws_a_single_bar(self):
        root = parse(charts.bar_chart(labels=["1 Sep"], stacks=[("Present", [7])]))
        self.assert_accessible(root)
        self.assertIn("7", self.texts(root))

    def test_it_shows_an_empty_bar_chart(self):
        for labels, values in (([], []), (["1 Sep", "8 Sep"], [0, 0])):
            root = parse(charts.bar_chart(labels=labels, stacks=[("Present", values)], empty_message="Nothing."))
            self.assert_accessible(root)
            self.assertIn("Nothing.", self.texts(root))

    def test_it_draws_a_donut_with_a_legend(self):
        slices = [("Member", 50, 1), ("Regular attender", 30, 2), ("Visitor", 15, 3), ("Inactive", 5, 4)]
        root = parse(charts.donut_chart(slices=slices, title="Status", total_label="people"))
        self.assert_accessible(root)
        self.assertIn("Member 50 (50%)", root.get("aria-label"))
        texts = self.texts(root)
        self.assertIn("100", texts)
        self.assertIn("Regular attender", texts)
        self.assertEqual(len(list(root.iter(f"{SVG}circle"))), 5)  # track + 4 slices

    def test_it_draws_a_donut_with_one_slice(self):
        root = parse(charts.donut_chart(slices=[("Visitor", 3, 3), ("Member", 0, 1)]))
        self.assert_accessible(root)
        self.assertEqual(len(list(root.iter(f"{SVG}circle"))), 2)  # track + the full ring
        self.assertIn("100%", root.get("aria-label"))

    def test_it_shows_an_empty_donut(self):
        for slices in ([], [("Member", 0, 1)]):
            root = parse(charts.donut_chart(slices=slices, empty_message="No people yet."))
            self.assertIn("No people yet.", self.texts(root))

    def test_it_escapes_labels(self):
        markup = charts.bar_chart(labels=["<b>&"], stacks=[("A & B", [1])], title='x"<y')
        root = parse(markup)
        self.assertIn('x"<y', root.get("aria-label"))
        self.assertNotIn("<b>", markup)
