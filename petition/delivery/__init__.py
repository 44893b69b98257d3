"""The delivery certificate: what organizers hand to leadership or a journalist, proving how many
verified colleagues signed without saying who (a signed note and a PDF of the same content)."""
