"""Reading worklist: work item states, priorities, assignment, claims (see issue: worklist)."""
