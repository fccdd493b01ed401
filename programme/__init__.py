"""The 찾아가는 동주민센터 space-improvement programme: its records (budget, participation, people,
plan), its report and its demo. Built on the generic workflow core in ``engine/`` and the stores in
``storage/``; a second programme would sit beside this package and reuse those unchanged."""
