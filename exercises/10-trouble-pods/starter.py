"""Step 10: what is broken in the lab's wiring, and where.

`cnilab exercise start 10` hid one fault in the lab, among its pods t10-a, t10-b (node1)
and t10-c (node2). Find it with the graph, `cnilab trace` and `cnilab exec`, write
down what it is, fix it in the lab, then `cnilab exercise check 10`.

FAULT is one of: veth-down, veth-detached, pod-no-default-route, mtu-mismatch,
forwarding-off. NODE is the node where the broken thing is. OBJECT is what is broken
there: the interface's name on the node for a veth fault, the pod's name for a fault
inside a pod, and "" for a setting of the node itself.
"""

FAULT = ""  # TODO: which fault
NODE = ""  # TODO: on which node
OBJECT = ""  # TODO: which interface or pod ("" for a node setting)

# Optional: instead of the three values, `def diagnose(lab)` may find them and return
# {"fault": ..., "node": ..., "object": ...}; and `def fix(lab)` may repair the lab
# (else fix it by hand). `lab` is a lab.exercises.trouble_lab.TroubleLab.
