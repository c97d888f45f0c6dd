"""Ports (contract §4.2–4.5): the service (``service``), the new port's plan
(``creating``), an update's steps (``updating``), the network read of the
create path (``network_tree``), the MAC of a port (``mac_choice``), address
pairs and DHCP options (``options``), and the Neutron view (``views``)."""
