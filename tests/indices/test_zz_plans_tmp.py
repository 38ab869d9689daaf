import io
from django.core.management import call_command
from members.models import Church
from tests.base import FlockTestCase
from tests.indices.test_index_audit import run, set_planner

class TmpTestCase(FlockTestCase):
    def test_it_prints(self):
        call_command("seed_demo", "--churches", "3", "--members", "1500", "--seed", "9", stdout=io.StringIO(), stderr=io.StringIO())
        church = Church.objects.exclude(slug__in=["grace", "hope"]).order_by("id").first()
        set_planner(enable_seqscan="off", enable_bitmapscan="off", enable_sort="off", enable_hashjoin="off", enable_mergejoin="off")
        print(run("explain_hot_queries", "--church", church.slug, "--runs", "1", "--query", "members_no_group", "--query", "directory_page_keyset", "--query", "dashboard_counts"))
