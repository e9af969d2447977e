pytest_plugins = ["llm_server"]


def test_x(llm_server):
    assert llm_server.base_url
