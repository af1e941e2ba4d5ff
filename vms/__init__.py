"""Two QEMU (TCG) VMs that prove the Vagrant path: an image made with debootstrap, a local
package source served to the VMs, and the machines themselves. Test tooling, not the product."""
