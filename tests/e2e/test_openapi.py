"""The served document is a valid OpenAPI 3.1 document and equals the committed one."""

import json
import os

from openapi_spec_validator import validate
from openapi_spec_validator.validation.validators import OpenAPIV31SpecValidator

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_the_served_document_validates_as_openapi_3_1(dap):
    served = dap.get_json("/openapi.json")
    assert served["openapi"].startswith("3.1")
    validate(served, cls=OpenAPIV31SpecValidator)
    with open(os.path.join(ROOT, "openapi", "openapi.json")) as f:
        assert json.load(f) == served
    print(f"openapi: {len(served['paths'])} paths, {sum(len(v) for v in served['paths'].values())} operations, valid 3.1")
