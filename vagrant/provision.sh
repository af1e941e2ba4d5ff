#!/usr/bin/env bash
# Provision one cnilab node (run as root by the Vagrantfile, or by hand on any Debian 12
# host). It only installs packages and then calls the project's own commands, the same
# ones the tests run inside namespaces: `cnilab node init` and `cnilab install`.
#
#   provision.sh --name node1 --node-ip 192.168.56.11 --pod-cidr 10.244.0.0/24 \
#                --peer 10.244.1.0/24=192.168.56.12 [--pod-network 10.244.0.0/16] \
#                [--web] [--agent node1=192.168.56.11 ...] [--agent-token TOKEN] \
#                [--src /vagrant] [--prefix /opt/cnilab] [--root DIR]
#
# --root DIR writes every system file (units, /etc/cnilab, the CNI folders, the state
# file) under DIR instead of /; tests run the script that way inside a namespace.
set -euo pipefail

usage() {
	sed -n '2,12p' "$0" >&2
	exit 2
}

name="" node_ip="" pod_cidr="" pod_network="10.244.0.0/16" web=0 agent_token=""
src="/vagrant" prefix="/opt/cnilab" root=""
peers=() agents=()
while [ "$#" -gt 0 ]; do
	case "$1" in
	--name) name="${2:?--name needs a value}"; shift 2 ;;
	--node-ip) node_ip="${2:?--node-ip needs a value}"; shift 2 ;;
	--pod-cidr) pod_cidr="${2:?--pod-cidr needs a value}"; shift 2 ;;
	--pod-network) pod_network="${2:?--pod-network needs a value}"; shift 2 ;;
	--peer) peers+=("${2:?--peer needs CIDR=IP}"); shift 2 ;;
	--web) web=1; shift ;;
	--agent) agents+=("${2:?--agent needs NAME=IP}"); shift 2 ;;
	--agent-token) agent_token="${2:?--agent-token needs a value}"; shift 2 ;;
	--src) src="${2:?--src needs a folder}"; shift 2 ;;
	--prefix) prefix="${2:?--prefix needs a folder}"; shift 2 ;;
	--root) root="${2:?--root needs a folder}"; shift 2 ;;
	-h | --help) usage ;;
	*) echo "provision.sh: unknown argument: $1" >&2; usage ;;
	esac
done
if [ -z "$name" ] || [ -z "$node_ip" ] || [ -z "$pod_cidr" ]; then
	echo "provision.sh: --name, --node-ip and --pod-cidr are required" >&2
	usage
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "provision.sh: run as root" >&2
	exit 1
fi

venv="$prefix/venv"
cnilab="$venv/bin/cnilab"
units_dir="$src/vagrant/systemd" # the script itself runs from a copy in /tmp
etc="$root/etc/cnilab"

echo "== $name: packages"
export DEBIAN_FRONTEND=noninteractive
packages=(python3 python3-venv iproute2 iptables nftables iputils-ping util-linux
	containernetworking-plugins tcpdump)
if [ "$web" -eq 1 ] && [ -f "$src/static/package.json" ]; then
	packages+=(nodejs npm)
fi
apt-get update -q
apt-get install -y -q --no-install-recommends "${packages[@]}"

echo "== $name: cnilab into $venv (editable: \`vagrant rsync\` refreshes the code)"
if [ ! -x "$venv/bin/python" ]; then
	python3 -m venv "$venv"
fi
"$venv/bin/pip" install -q --upgrade pip
"$venv/bin/pip" install -q -e "$src"
install -d "$root/usr/local/bin"
ln -sf "$cnilab" "$root/usr/local/bin/cnilab"

echo "== $name: cnilab node init"
peer_args=()
for peer in "${peers[@]}"; do
	peer_args+=(--peer "$peer")
done
"$cnilab" node init --pod-cidr "$pod_cidr" --node-ip "$node_ip" \
	--pod-network "$pod_network" "${peer_args[@]}" \
	--state-file "$root/var/lib/cnilab/node.json"

echo "== $name: cnilab install"
"$cnilab" install --pod-cidr "$pod_cidr" \
	--bin-dir "$root/opt/cni/bin" --conf-dir "$root/etc/cni/net.d"

echo "== $name: services"
install -d -m 0755 "$etc" "$root/etc/systemd/system"
{
	echo "# Written by vagrant/provision.sh; read by cnilab-node.service and cnilab-agent.service."
	echo "CNILAB_NODE_NAME=$name"
	echo "CNILAB_NODE_IP=$node_ip"
	echo "CNILAB_POD_CIDR=$pod_cidr"
	echo "CNILAB_POD_NETWORK=$pod_network"
	echo "CNILAB_PEER_ARGS=\"${peer_args[*]}\""
} >"$etc/node.env"
# Every node's agent shares one token (the Vagrantfile makes it once, on the host).
if [ -n "$agent_token" ]; then
	(umask 077 && echo "$agent_token" >"$etc/agent.token")
elif [ ! -f "$etc/agent.token" ]; then
	(umask 077 && "$venv/bin/python" -c 'import secrets; print(secrets.token_urlsafe(24))' >"$etc/agent.token")
fi
units=(cnilab-node.service pycni-agent.service cnilab-agent.service)
if [ "$web" -eq 1 ]; then
	units+=(cnilab-web.service)
	if [ ! -f "$etc/web.env" ]; then
		token="$("$venv/bin/python" -c 'import secrets; print(secrets.token_urlsafe(16))')"
		(umask 077 && echo "CNILAB_TOKEN=$token" >"$etc/web.env")
	fi
	# The web app merges every node's agent into one graph and one trace.
	{
		echo "["
		sep=""
		for agent in "${agents[@]:-$name=$node_ip}"; do
			printf '%s  {"name": "%s", "url": "http://%s:8081", "token_file": "/etc/cnilab/agent.token"}' \
				"$sep" "${agent%%=*}" "${agent#*=}"
			sep=$',\n'
		done
		printf '\n]\n'
	} >"$etc/agents.json"
	if [ -f "$src/static/package-lock.json" ]; then
		(cd "$src/static" && npm ci --no-audit --no-fund --loglevel=error)
	fi
fi
for unit in "${units[@]}"; do
	install -m 0644 "$units_dir/$unit" "$root/etc/systemd/system/$unit"
done
systemctl daemon-reload
systemctl enable -q "${units[@]}"
systemctl restart "${units[@]}"

echo "== $name: ready"
ip -br addr show cni0
ip route show | grep -F "via" || true
if [ "$web" -eq 1 ]; then
	token="$(sed -n 's/^CNILAB_TOKEN=//p' "$etc/web.env")"
	echo "web app: http://127.0.0.1:8080/?token=$token"
fi
