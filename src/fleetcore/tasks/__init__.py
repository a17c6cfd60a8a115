"""The staff's tasks (sch_): the table and the system's helpers; scheduling shows and edits them."""
