# The routers' tables live in their own module; importing it here keeps them
# in ``Base.metadata`` for every user of the models (Alembic, tests).
from quark.db import address_group_models as address_group_models
from quark.db import external_ipam_models as external_ipam_models
from quark.db import flavor_models as flavor_models
from quark.db import jobs_model as jobs_model
from quark.db import l3_models as l3_models
from quark.db import mac_usage_model as mac_usage_model
from quark.db import network_service_models as network_service_models
from quark.db import pool_models as pool_models
from quark.db import rbac_models as rbac_models
from quark.db import security_models as security_models
from quark.db import segment_models as segment_models
