"""Step 15: what is broken between the lab's nodes, and where.

`cnilab exercise start 15` hid one fault in the lab, among its pods t15-a, t15-b (node1)
and t15-c (node2). Find it with the graph, `cnilab trace` and `cnilab exec`, write
down what it is, fix it in the lab, then `cnilab exercise check 15`.

FAULT is one of: route-missing, route-wrong-gateway, route-stale-cidr,
masquerade-pods, forward-drop. NODE is the node where the broken thing is. OBJECT is
the pod CIDR whose route is broken for a route fault, and "" otherwise.
"""

FAULT = ""  # TODO: which fault
NODE = ""  # TODO: on which node
OBJECT = ""  # TODO: which pod CIDR ("" for a masquerade or firewall fault)

# Optional: instead of the three values, `def diagnose(lab)` may find them and return
# {"fault": ..., "node": ..., "object": ...}; and `def fix(lab)` may repair the lab
# (else fix it by hand). `lab` is a lab.exercises.trouble_lab.TroubleLab.
