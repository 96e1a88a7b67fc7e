from tests.fixtures import login


def test_overview_lists_both_orgs_data_only_for_own(client, orgs):
    a, b = orgs
    login(client, a.admin.email)
    page = client.get("/").get_data(as_text=True)
    assert "alpha primary" in page
    assert "beta primary" not in page
    assert "sk-alpha" not in page
