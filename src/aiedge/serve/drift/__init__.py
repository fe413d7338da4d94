"""Model drift at the site: the profile format and its score (:mod:`.profile`), and the live
window that ``aiedge serve`` keeps off the request path (:mod:`.monitor`)."""
