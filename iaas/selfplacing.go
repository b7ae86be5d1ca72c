package iaas

// SelfPlacer is the optional ability of a provider that chooses the host of
// a machine itself (a public cloud's scheduler): the controllers do not ask
// the Placer for a Hypervisor, and MachineSpec.Hypervisor stays empty.
type SelfPlacer interface {
	PlacesMachines() bool
}

// PlacesItself reports whether p chooses its machines' hosts itself.
func PlacesItself(p Provider) bool {
	sp, ok := p.(SelfPlacer)
	return ok && sp.PlacesMachines()
}
