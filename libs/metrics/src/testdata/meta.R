suppressMessages({library(pROC); library(metafor)})
toJSONish <- function(x) {
  if (is.list(x)) {
    if (is.null(names(x))) return(paste0("[", paste(sapply(x, toJSONish), collapse = ", "), "]"))
    return(paste0("{", paste(sprintf("\"%s\": %s", names(x), sapply(x, toJSONish)), collapse = ", "), "}"))
  }
  if (is.character(x)) return(if (length(x) == 1) sprintf("\"%s\"", x) else paste0("[", paste(sprintf("\"%s\"", x), collapse = ", "), "]"))
  v <- sprintf("%.15g", x)
  if (length(x) == 1) v else paste0("[", paste(v, collapse = ", "), "]")
}
set.seed(20261202)
sites <- c("north", "south", "east"); n <- c(40, 56, 31); shift <- c(0.9, 0.6, 1.2)
rows <- do.call(rbind, lapply(seq_along(sites), function(k) {
  y <- rbinom(n[k], 1, 0.4); y[1:2] <- c(0, 1); y[3:4] <- c(1, 0)
  a <- round(plogis(rnorm(n[k], shift[k] * y - 0.3)), 3)
  b <- round(plogis(rnorm(n[k], c(1.6, 0.8, 0.1)[k] * shift[k] * y + 0.5 * (qlogis(pmin(pmax(a,0.001),0.999))) - 0.2)), 3)
  data.frame(site = sites[k], y = y, a = a, b = b)
}))
write.csv(rows, "meta.csv", row.names = FALSE, quote = FALSE)
per <- lapply(sites, function(s) {
  d <- rows[rows$site == s, ]
  ra <- roc(d$y, d$a, levels = c(0, 1), direction = "<", quiet = TRUE)
  rb <- roc(d$y, d$b, levels = c(0, 1), direction = "<", quiet = TRUE)
  list(site = s, n_pos = sum(d$y == 1), n_neg = sum(d$y == 0),
       auc_a = as.numeric(auc(ra)), auc_b = as.numeric(auc(rb)),
       var_a = var(ra, method = "delong"), var_b = var(rb, method = "delong"),
       cov_ab = cov(ra, rb, method = "delong"))
})
d <- sapply(per, function(p) p$auc_a - p$auc_b)
v <- sapply(per, function(p) p$var_a + p$var_b - 2 * p$cov_ab)
fe <- rma(yi = d, vi = v, method = "FE")
fa <- rma(yi = sapply(per, function(p) p$auc_a), vi = sapply(per, function(p) p$var_a), method = "FE")
B <- 20
bin <- pmin(floor(rows$a * B), B - 1)
rp <- roc(rows$y, bin, levels = c(0, 1), direction = "<", quiet = TRUE)
rexact <- roc(rows$y, rows$a, levels = c(0, 1), direction = "<", quiet = TRUE)
ci <- as.numeric(ci.auc(rp, method = "delong"))
out <- list(
  sites = per,
  fixed_effect_difference = list(estimate = as.numeric(fe$beta), se = fe$se, ci95 = c(fe$ci.lb, fe$ci.ub),
    z = fe$zval, p = fe$pval, q = fe$QE, q_p = fe$QEp, i2 = fe$I2 / 100),
  fixed_effect_auc_a = list(estimate = as.numeric(fa$beta), se = fa$se, ci95 = c(fa$ci.lb, fa$ci.ub),
    q = fa$QE, q_p = fa$QEp, i2 = fa$I2 / 100),
  pooled_histogram_a = list(bins = B, auc = ci[2], ci95 = c(ci[1], ci[3]), var = var(rp, method = "delong"),
    exact_auc = as.numeric(auc(rexact))),
  versions = list(R = R.version.string, pROC = as.character(packageVersion("pROC")),
    metafor = as.character(packageVersion("metafor"))))
writeLines(toJSONish(out), "meta-expected.json")
