"""Reference data shared by tenants: car makes and models, vehicle classes, platforms,
country regulations (dir_)."""
